"""Adapter for the electronic data warehouse (Kho dữ liệu): reuse of digitised results."""
