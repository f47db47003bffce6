"""gateway/domain package."""
