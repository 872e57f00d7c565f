"""Builders shared by the test modules: plain functions and dataclasses, no tests. A test module imports
from here (and from tests.factories), never from another test module."""
