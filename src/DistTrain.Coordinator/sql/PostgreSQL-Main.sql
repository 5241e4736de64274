-- Orleans' ADO.NET providers read the SQL they run from this table, by key. Run this script once per database,
-- before PostgreSQL-Persistence.sql. (Microsoft.Orleans.Persistence.AdoNet ships no scripts; these are DistTrain's.)
CREATE TABLE IF NOT EXISTS OrleansQuery
(
    QueryKey  varchar(64)   NOT NULL PRIMARY KEY,
    QueryText varchar(8000) NOT NULL
);
