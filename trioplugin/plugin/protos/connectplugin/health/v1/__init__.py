"""Generated code of the ``connectplugin.health.v1`` protobuf package."""
