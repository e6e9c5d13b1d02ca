"""Generated code of the ``grpc`` protobuf package."""
