"""theletter-data's development tools: the realistic lake generator, the demo and the benchmark.

They are kept out of the `theletter_data` package so that the production image, which copies
and installs only that package, carries none of them; a checkout's editable install has both.
"""
