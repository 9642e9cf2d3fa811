"""Expert library (专家库): researchers, their affiliations, disciplines and contact details.

Contact details (email, phone) are returned to signed-in callers only and never published.
"""
