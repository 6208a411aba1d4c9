"""Churn prediction: training observations, candidate models, promotion, risk and drivers."""
