"""Generated code of the ``connectplugin.health`` protobuf package."""
