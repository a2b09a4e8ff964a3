"""PyFlink job entry points. Each exposes build_pipeline(t_env, ...) and a thin main()."""
