"""Checking an export row by row and converting what passes (``validate.validate``).

``cells`` parses text cells into numbers and codes; ``rowrules`` and ``itemrules`` check each
row and its item answers; ``dates`` reads dates; ``across_rows`` checks a patient's rows
together (days, phases, repeats); ``privacy`` and ``privacy_headers`` refuse a file that
identifies people; ``findings``, ``report_groups`` and ``tables`` collect what was found into
the report, the rejected rows and the problems; ``deferred`` builds those tables when first read.
"""
