"""`parity report`: collect every case, divergence and trajectory, then write the report.

``writer``       runs everything (``collect``), then writes every file atomically (``write_report``)
``data``         what is collected
``tables``       the summary matrix, noise floors, divergence table, results.csv and parity.md
``plots``        the figures of index.html
``html``         index.html, one self-contained page
``migration``    reports/MIGRATION.md, the migration guide (``python -m parity.report.migration``)
``environment``  versions, BLAS and CPU the numbers were measured with
``trajectories`` the short training runs the report shows
"""
