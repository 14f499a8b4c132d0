"""Readers: the people who sign in and read. Identified by UUID, never by email."""
