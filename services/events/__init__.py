"""The events library (活动库): forums, symposia, seminars, field studies and trainings."""
