"""The Open Inference Protocol: types, datatypes and codecs shared by every part."""
