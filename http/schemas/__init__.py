"""Marshmallow schemas: request validation and the OpenAPI document, one module per resource."""
