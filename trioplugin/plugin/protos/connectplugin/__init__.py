"""Generated code of the ``connectplugin`` protobuf package."""
