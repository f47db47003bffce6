"""Adapter for the National Public Service Portal (DVCQG): REST and SOAP bindings."""
