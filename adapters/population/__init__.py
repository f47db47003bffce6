"""Adapter for the National Population Database (CSDLQG về dân cư): SOAP lookups and verifications."""
