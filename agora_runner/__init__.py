"""Plain-Python side of a simulated call: no Django import anywhere in this package."""
