DROP TABLE minke_work_items;
