"""What a job costs: pricing inputs recorded at submit, dated price tables, cost arithmetic, and run comparison."""
