"""Mock of the National Population Database (CSDLQG về dân cư): SOAP, seeded citizens."""
