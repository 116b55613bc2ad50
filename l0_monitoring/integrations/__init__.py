"""Integrations with OpenTelemetry and Sentry; their SDKs are imported lazily."""
