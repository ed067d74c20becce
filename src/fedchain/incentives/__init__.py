"""incentives layer."""
