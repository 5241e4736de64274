-- Grain state for Orleans' ADO.NET storage provider on PostgreSQL (`disttrain coordinator --storage postgres=...`).
-- Run after PostgreSQL-Main.sql:  psql "$CONNECTION" -f PostgreSQL-Main.sql -f PostgreSQL-Persistence.sql
--
-- One row per grain state, keyed by the grain's id (hash, two 64-bit halves and an optional string extension), its
-- type and the service id. Version implements optimistic concurrency: a write or clear names the version it read,
-- succeeds only if the row still has it, and returns the new version; anything else returns NULL, which the provider
-- reports as an inconsistent-state error.

CREATE TABLE IF NOT EXISTS OrleansStorage
(
    GrainIdHash            integer      NOT NULL,
    GrainIdN0              bigint       NOT NULL,
    GrainIdN1              bigint       NOT NULL,
    GrainTypeHash          integer      NOT NULL,
    GrainTypeString        varchar(512) NOT NULL,
    GrainIdExtensionString varchar(512),
    ServiceId              varchar(150) NOT NULL,
    PayloadBinary          bytea,
    ModifiedOn             timestamp    NOT NULL,
    Version                integer      NOT NULL
);

-- At most one row per grain state; also the lookup index (the hashes narrow it first).
CREATE UNIQUE INDEX IF NOT EXISTS OrleansStorage_Grain ON OrleansStorage
    (GrainIdHash, GrainTypeHash, GrainIdN0, GrainIdN1, GrainTypeString, COALESCE(GrainIdExtensionString, ''), ServiceId);

-- Writes a state: an update of the version the caller read, or the first insert when it read none.
CREATE OR REPLACE FUNCTION DistTrainWriteGrainState(
    _GrainIdHash integer, _GrainIdN0 bigint, _GrainIdN1 bigint, _GrainTypeHash integer, _GrainTypeString varchar,
    _GrainIdExtensionString varchar, _ServiceId varchar, _GrainStateVersion integer, _PayloadBinary bytea)
RETURNS TABLE (NewGrainStateVersion integer)
LANGUAGE plpgsql AS $body$
DECLARE
    _version integer;
BEGIN
    IF _GrainStateVersion IS NULL THEN
        INSERT INTO OrleansStorage (GrainIdHash, GrainIdN0, GrainIdN1, GrainTypeHash, GrainTypeString, GrainIdExtensionString,
                                    ServiceId, PayloadBinary, ModifiedOn, Version)
        VALUES (_GrainIdHash, _GrainIdN0, _GrainIdN1, _GrainTypeHash, _GrainTypeString, _GrainIdExtensionString,
                _ServiceId, _PayloadBinary, now() AT TIME ZONE 'utc', 1)
        ON CONFLICT DO NOTHING
        RETURNING Version INTO _version;
    ELSE
        UPDATE OrleansStorage
        SET PayloadBinary = _PayloadBinary, ModifiedOn = now() AT TIME ZONE 'utc', Version = Version + 1
        WHERE GrainIdHash = _GrainIdHash AND GrainTypeHash = _GrainTypeHash
          AND GrainIdN0 = _GrainIdN0 AND GrainIdN1 = _GrainIdN1 AND GrainTypeString = _GrainTypeString
          AND GrainIdExtensionString IS NOT DISTINCT FROM _GrainIdExtensionString AND ServiceId = _ServiceId
          AND Version = _GrainStateVersion
        RETURNING Version INTO _version;
    END IF;
    RETURN QUERY SELECT _version;
END
$body$;

-- The queries the provider looks up by key. Parameters arrive by name (@Name); nullable ones are cast so that an
-- untyped NULL still resolves.
INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES
('WriteToStorageKey', $q$
    SELECT NewGrainStateVersion
    FROM DistTrainWriteGrainState(@GrainIdHash, @GrainIdN0, @GrainIdN1, @GrainTypeHash, @GrainTypeString,
        @GrainIdExtensionString::varchar, @ServiceId, @GrainStateVersion::integer, @PayloadBinary::bytea)
$q$),
('ReadFromStorageKey', $q$
    SELECT PayloadBinary, ModifiedOn, Version
    FROM OrleansStorage
    WHERE GrainIdHash = @GrainIdHash AND GrainTypeHash = @GrainTypeHash
      AND GrainIdN0 = @GrainIdN0 AND GrainIdN1 = @GrainIdN1 AND GrainTypeString = @GrainTypeString
      AND GrainIdExtensionString IS NOT DISTINCT FROM @GrainIdExtensionString::varchar AND ServiceId = @ServiceId
$q$),
('ClearStorageKey', $q$
    UPDATE OrleansStorage
    SET PayloadBinary = NULL, ModifiedOn = now() AT TIME ZONE 'utc', Version = Version + 1
    WHERE GrainIdHash = @GrainIdHash AND GrainTypeHash = @GrainTypeHash
      AND GrainIdN0 = @GrainIdN0 AND GrainIdN1 = @GrainIdN1 AND GrainTypeString = @GrainTypeString
      AND GrainIdExtensionString IS NOT DISTINCT FROM @GrainIdExtensionString::varchar AND ServiceId = @ServiceId
      AND Version = @GrainStateVersion::integer
    RETURNING Version AS NewGrainStateVersion
$q$),
('DeleteStorageKey', $q$
    DELETE FROM OrleansStorage
    WHERE GrainIdHash = @GrainIdHash AND GrainTypeHash = @GrainTypeHash
      AND GrainIdN0 = @GrainIdN0 AND GrainIdN1 = @GrainIdN1 AND GrainTypeString = @GrainTypeString
      AND GrainIdExtensionString IS NOT DISTINCT FROM @GrainIdExtensionString::varchar AND ServiceId = @ServiceId
      AND Version = @GrainStateVersion::integer
    RETURNING Version AS NewGrainStateVersion
$q$)
ON CONFLICT (QueryKey) DO UPDATE SET QueryText = EXCLUDED.QueryText;
