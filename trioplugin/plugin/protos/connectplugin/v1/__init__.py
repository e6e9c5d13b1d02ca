"""Generated code of the ``connectplugin.v1`` protobuf package."""
