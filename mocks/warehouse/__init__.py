"""Mock of the electronic data warehouse (Kho dữ liệu): digitised results of seeded citizens."""
