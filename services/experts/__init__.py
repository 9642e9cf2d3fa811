"""Expert library (专家库): researchers, their affiliations, disciplines and contact details."""
