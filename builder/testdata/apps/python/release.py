"""The Python sample's release phase: a stand-in for migrations."""

print("release phase: nothing to migrate")
