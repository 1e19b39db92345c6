"""`infiniti-sync init`: a starting project from an export (runner/init/project.py composes it).

layouts.py describes the exports it recognises (OneRoster 1.1 and 1.2, School Data Sync v1, v2 and v2.1),
generic.py guesses the rest, export.py reads them, write.py writes the files (and the files every kept
project has: .gitignore and the JSON Schemas, which `demo --keep` writes too); templates/ holds the files'
text.
"""
