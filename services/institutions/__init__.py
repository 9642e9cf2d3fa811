"""Institution library (机构库): universities, institutes, societies, think tanks and more."""
