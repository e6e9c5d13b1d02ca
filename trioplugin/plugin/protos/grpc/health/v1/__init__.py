"""Generated code of the ``grpc.health.v1`` protobuf package."""
