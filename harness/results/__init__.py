"""Reading LoadGen's logs and writing the result files (result.json, accuracy.txt)."""
