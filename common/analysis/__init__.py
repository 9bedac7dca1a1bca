"""From recorded runs to verdicts: statistics, aggregates, claims and their rule, reference curves, plots,
reports, comparisons and exports."""
