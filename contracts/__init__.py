"""Contracts: the single source of truth (OpenAPI, WSDL/XSD, JSON Schema). Data only."""
