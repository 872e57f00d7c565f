"""REST API for care logging: thin views over `pregnancies.services` and `pregnancies.selectors`."""
