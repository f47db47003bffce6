"""Mock of the National Public Service Portal (DVCQG): REST and SOAP bindings.

See :mod:`mocks.portal.app` for the routes and ``contracts/portal/`` for the contract.
"""
