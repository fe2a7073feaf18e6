print("looplm")
