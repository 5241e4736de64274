-- Cluster membership for Orleans' ADO.NET clustering provider on PostgreSQL: coordinators started with the same
-- `--storage postgres=...` find each other through these tables and form one cluster.
-- Run after PostgreSQL-Main.sql:  psql "$CONNECTION" -f PostgreSQL-Main.sql -f PostgreSQL-Clustering.sql
--
-- One version row per cluster (DeploymentId), and one row per silo incarnation (address, port, generation). Every
-- change to a silo's row names the cluster version the silo read and bumps it; a change from a stale read changes
-- nothing and returns 0, and the provider reads the table again. The functions return 1 when they changed the table.

CREATE TABLE IF NOT EXISTS OrleansMembershipVersionTable
(
    DeploymentId varchar(150)   NOT NULL PRIMARY KEY,
    Timestamp    timestamptz(3) NOT NULL DEFAULT now(),
    Version      integer        NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS OrleansMembershipTable
(
    DeploymentId varchar(150)   NOT NULL REFERENCES OrleansMembershipVersionTable (DeploymentId),
    Address      varchar(45)    NOT NULL,
    Port         integer        NOT NULL,
    Generation   integer        NOT NULL,
    SiloName     varchar(150)   NOT NULL,
    HostName     varchar(150)   NOT NULL,
    Status       integer        NOT NULL,
    ProxyPort    integer,
    SuspectTimes varchar(8000),
    MetadataJson text,           -- read by newer providers; Orleans 10.4 neither writes nor needs it
    StartTime    timestamptz(3) NOT NULL,
    IAmAliveTime timestamptz(3) NOT NULL,
    PRIMARY KEY (DeploymentId, Address, Port, Generation)
);

-- The cluster's version row, made once; 1 if this call made it.
CREATE OR REPLACE FUNCTION DistTrainInsertMembershipVersion(_DeploymentId varchar)
RETURNS TABLE (Changed integer)
LANGUAGE plpgsql AS $body$
DECLARE
    _rows integer;
BEGIN
    INSERT INTO OrleansMembershipVersionTable (DeploymentId) VALUES (_DeploymentId) ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS _rows = ROW_COUNT;
    RETURN QUERY SELECT _rows;
END
$body$;

-- Moves the cluster's version on if it is still the caller's: taken first, this row is the lock every change to the
-- membership takes. False (and nothing changed) when another change came first.
CREATE OR REPLACE FUNCTION DistTrainBumpMembershipVersion(_DeploymentId varchar, _Version integer)
RETURNS boolean
LANGUAGE plpgsql AS $body$
BEGIN
    UPDATE OrleansMembershipVersionTable SET Timestamp = now(), Version = Version + 1
    WHERE DeploymentId = _DeploymentId AND Version = _Version;
    RETURN FOUND;
END
$body$;

-- A new silo's row, if the caller's version is still current; the version moves on with it.
CREATE OR REPLACE FUNCTION DistTrainInsertMembership(
    _DeploymentId varchar, _Address varchar, _Port integer, _Generation integer, _SiloName varchar, _HostName varchar,
    _Status integer, _ProxyPort integer, _StartTime timestamptz, _IAmAliveTime timestamptz, _Version integer)
RETURNS TABLE (Changed integer)
LANGUAGE plpgsql AS $body$
DECLARE
    _rows integer;
BEGIN
    IF NOT DistTrainBumpMembershipVersion(_DeploymentId, _Version) THEN
        RETURN QUERY SELECT 0;
        RETURN;
    END IF;
    INSERT INTO OrleansMembershipTable (DeploymentId, Address, Port, Generation, SiloName, HostName, Status, ProxyPort,
                                        StartTime, IAmAliveTime)
    VALUES (_DeploymentId, _Address, _Port, _Generation, _SiloName, _HostName, _Status, _ProxyPort, _StartTime, _IAmAliveTime)
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS _rows = ROW_COUNT;
    IF _rows = 0 THEN
        -- That silo incarnation is already listed: the version bump is taken back, so nothing changed.
        UPDATE OrleansMembershipVersionTable SET Version = Version - 1 WHERE DeploymentId = _DeploymentId;
    END IF;
    RETURN QUERY SELECT _rows;
END
$body$;

-- A silo's status, suspicions and liveness, if the caller's version is still current; the version moves on with it.
CREATE OR REPLACE FUNCTION DistTrainUpdateMembership(
    _DeploymentId varchar, _Address varchar, _Port integer, _Generation integer, _Status integer, _SuspectTimes varchar,
    _IAmAliveTime timestamptz, _Version integer)
RETURNS TABLE (Changed integer)
LANGUAGE plpgsql AS $body$
DECLARE
    _rows integer;
BEGIN
    IF NOT DistTrainBumpMembershipVersion(_DeploymentId, _Version) THEN
        RETURN QUERY SELECT 0;
        RETURN;
    END IF;
    UPDATE OrleansMembershipTable
    SET Status = _Status, SuspectTimes = _SuspectTimes, IAmAliveTime = _IAmAliveTime
    WHERE DeploymentId = _DeploymentId AND Address = _Address AND Port = _Port AND Generation = _Generation;
    GET DIAGNOSTICS _rows = ROW_COUNT;
    IF _rows = 0 THEN
        UPDATE OrleansMembershipVersionTable SET Version = Version - 1 WHERE DeploymentId = _DeploymentId;
    END IF;
    RETURN QUERY SELECT _rows;
END
$body$;

INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES
('InsertMembershipVersionKey',
 'SELECT Changed FROM DistTrainInsertMembershipVersion(@DeploymentId);'),
('InsertMembershipKey',
 'SELECT Changed FROM DistTrainInsertMembership(@DeploymentId, @Address, @Port, @Generation, @SiloName, @HostName, @Status,
      @ProxyPort, @StartTime, @IAmAliveTime, @Version);'),
('UpdateMembershipKey',
 'SELECT Changed FROM DistTrainUpdateMembership(@DeploymentId, @Address, @Port, @Generation, @Status, @SuspectTimes,
      @IAmAliveTime, @Version);'),
-- A liveness beat does not move the version: the other silos read it without needing to retry their writes.
('UpdateIAmAlivetimeKey',
 'UPDATE OrleansMembershipTable SET IAmAliveTime = @IAmAliveTime
  WHERE DeploymentId = @DeploymentId AND Address = @Address AND Port = @Port AND Generation = @Generation;'),
-- One silo's row with the cluster's version; the version comes back even when the silo has no row yet.
('MembershipReadRowKey',
 'SELECT v.DeploymentId, m.Address, m.Port, m.Generation, m.SiloName, m.HostName, m.Status, m.ProxyPort, m.SuspectTimes,
         m.MetadataJson, m.StartTime, m.IAmAliveTime, v.Version
  FROM OrleansMembershipVersionTable v
  LEFT JOIN OrleansMembershipTable m ON m.DeploymentId = v.DeploymentId
       AND m.Address = @Address AND m.Port = @Port AND m.Generation = @Generation
  WHERE v.DeploymentId = @DeploymentId;'),
('MembershipReadAllKey',
 'SELECT v.DeploymentId, m.Address, m.Port, m.Generation, m.SiloName, m.HostName, m.Status, m.ProxyPort, m.SuspectTimes,
         m.MetadataJson, m.StartTime, m.IAmAliveTime, v.Version
  FROM OrleansMembershipVersionTable v
  LEFT JOIN OrleansMembershipTable m ON m.DeploymentId = v.DeploymentId
  WHERE v.DeploymentId = @DeploymentId;'),
('DeleteMembershipTableEntriesKey',
 'DELETE FROM OrleansMembershipTable WHERE DeploymentId = @DeploymentId;
  DELETE FROM OrleansMembershipVersionTable WHERE DeploymentId = @DeploymentId;'),
('GatewaysQueryKey',
 'SELECT Address, ProxyPort, Generation FROM OrleansMembershipTable
  WHERE DeploymentId = @DeploymentId AND Status = @Status AND ProxyPort > 0;'),
-- Rows of silos that are not active (3 is Orleans' SiloStatus.Active) and stopped beating before the given time.
('CleanupDefunctSiloEntriesKey',
 'DELETE FROM OrleansMembershipTable
  WHERE DeploymentId = @DeploymentId AND IAmAliveTime < @IAmAliveTime AND Status <> 3;')
ON CONFLICT (QueryKey) DO UPDATE SET QueryText = EXCLUDED.QueryText;
