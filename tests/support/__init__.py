"""Helpers shared by the tests: real servers and clients, no mocks."""
