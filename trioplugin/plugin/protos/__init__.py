"""Generated code of the plugin contract's .proto files (scripts/gen-protos writes it)."""
