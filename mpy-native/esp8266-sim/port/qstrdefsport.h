// No port-specific qstrs beyond those found in the sources.
