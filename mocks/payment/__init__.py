"""Mock of the portal's online payment platform (PayGov): INIT, QUERY, GET_BILL, checkout, IPN.

See :mod:`mocks.payment.app` for the routes and ``contracts/payment/openapi.yaml``.
"""
