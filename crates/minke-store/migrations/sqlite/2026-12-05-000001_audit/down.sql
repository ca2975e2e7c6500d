DROP TABLE minke_audit;
