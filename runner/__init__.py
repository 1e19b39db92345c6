"""infiniti-sync: declarative sync specs from a Student Management System into Concord Infiniti."""

__version__ = "0.1.0"
