"""mocks package."""
