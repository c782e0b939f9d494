"""Raw layer: the lake's objects as producers outside this project write them."""
