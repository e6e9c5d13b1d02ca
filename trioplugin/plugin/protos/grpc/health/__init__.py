"""Generated code of the ``grpc.health`` protobuf package."""
