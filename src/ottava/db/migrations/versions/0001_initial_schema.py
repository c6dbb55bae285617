"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26 02:41:24.329466
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "availability_zone_profile",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("provider_name", sa.String(length=255), nullable=False),
        sa.Column("availability_zone_data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_availability_zone_profile")),
    )
    op.create_table(
        "flavor_profile",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("provider_name", sa.String(length=255), nullable=False),
        sa.Column("flavor_data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flavor_profile")),
    )
    op.create_table(
        "operation",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("target_id", sa.String(length=36), nullable=False),
        sa.Column("load_balancer_id", sa.String(length=36), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operation")),
    )
    with op.batch_alter_table("operation", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_operation_load_balancer_id"), ["load_balancer_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_operation_state"), ["state"], unique=False)

    op.create_table(
        "quota",
        sa.Column("project_id", sa.String(length=255), nullable=False),
        sa.Column("load_balancer", sa.Integer(), nullable=True),
        sa.Column("listener", sa.Integer(), nullable=True),
        sa.Column("pool", sa.Integer(), nullable=True),
        sa.Column("health_monitor", sa.Integer(), nullable=True),
        sa.Column("member", sa.Integer(), nullable=True),
        sa.Column("l7policy", sa.Integer(), nullable=True),
        sa.Column("l7rule", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_quota")),
    )
    op.create_table(
        "tag",
        sa.Column("resource_id", sa.String(length=36), nullable=False),
        sa.Column("tag", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("resource_id", "tag", name=op.f("pk_tag")),
    )
    op.create_table(
        "availability_zone",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("availability_zone_profile_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["availability_zone_profile_id"],
            ["availability_zone_profile.id"],
            name=op.f(
                "fk_availability_zone_availability_zone_profile_id_availability_zone_profile"
            ),
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_availability_zone")),
    )
    op.create_table(
        "flavor",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("flavor_profile_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["flavor_profile_id"],
            ["flavor_profile.id"],
            name=op.f("fk_flavor_flavor_profile_id_flavor_profile"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flavor")),
        sa.UniqueConstraint("name", name=op.f("uq_flavor_name")),
    )
    op.create_table(
        "load_balancer",
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("provider", sa.String(length=64), nullable=True),
        sa.Column("flavor_id", sa.String(length=36), nullable=True),
        sa.Column("availability_zone", sa.String(length=255), nullable=True),
        sa.Column("topology", sa.String(length=16), nullable=False),
        sa.Column("vip_address", sa.String(length=64), nullable=True),
        sa.Column("vip_port_id", sa.String(length=36), nullable=True),
        sa.Column("vip_subnet_id", sa.String(length=36), nullable=True),
        sa.Column("vip_network_id", sa.String(length=36), nullable=True),
        sa.Column("vip_qos_policy_id", sa.String(length=36), nullable=True),
        sa.Column("vip_vnic_type", sa.String(length=16), nullable=False),
        sa.Column("vip_sg_ids", sa.JSON(), nullable=False),
        sa.Column("additional_vips", sa.JSON(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("admin_state_up", sa.Boolean(), nullable=False),
        sa.Column("provisioning_status", sa.String(length=16), nullable=False),
        sa.Column("operating_status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["availability_zone"],
            ["availability_zone.name"],
            name=op.f("fk_load_balancer_availability_zone_availability_zone"),
        ),
        sa.ForeignKeyConstraint(
            ["flavor_id"], ["flavor.id"], name=op.f("fk_load_balancer_flavor_id_flavor")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_load_balancer")),
    )
    with op.batch_alter_table("load_balancer", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_load_balancer_project_id"), ["project_id"], unique=False
        )

    op.create_table(
        "amphora",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("load_balancer_id", sa.String(length=36), nullable=True),
        sa.Column("compute_id", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=36), nullable=False),
        sa.Column("role", sa.String(length=36), nullable=True),
        sa.Column("lb_network_ip", sa.String(length=64), nullable=True),
        sa.Column("vrrp_ip", sa.String(length=64), nullable=True),
        sa.Column("ha_ip", sa.String(length=64), nullable=True),
        sa.Column("vrrp_port_id", sa.String(length=36), nullable=True),
        sa.Column("ha_port_id", sa.String(length=36), nullable=True),
        sa.Column("cert_expiration", sa.DateTime(), nullable=True),
        sa.Column("cert_busy", sa.Boolean(), nullable=False),
        sa.Column("vrrp_interface", sa.String(length=16), nullable=True),
        sa.Column("vrrp_id", sa.Integer(), nullable=True),
        sa.Column("vrrp_priority", sa.Integer(), nullable=True),
        sa.Column("cached_zone", sa.String(length=255), nullable=True),
        sa.Column("image_id", sa.String(length=36), nullable=True),
        sa.Column("compute_flavor", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["load_balancer_id"],
            ["load_balancer.id"],
            name=op.f("fk_amphora_load_balancer_id_load_balancer"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_amphora")),
    )
    with op.batch_alter_table("amphora", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_amphora_load_balancer_id"), ["load_balancer_id"], unique=False
        )

    op.create_table(
        "pool",
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("load_balancer_id", sa.String(length=36), nullable=False),
        sa.Column("protocol", sa.String(length=16), nullable=False),
        sa.Column("lb_algorithm", sa.String(length=32), nullable=False),
        sa.Column("session_persistence", sa.JSON(), nullable=True),
        sa.Column("tls_enabled", sa.Boolean(), nullable=False),
        sa.Column("tls_container_ref", sa.String(length=255), nullable=True),
        sa.Column("ca_tls_container_ref", sa.String(length=255), nullable=True),
        sa.Column("crl_container_ref", sa.String(length=255), nullable=True),
        sa.Column("tls_ciphers", sa.String(length=2048), nullable=True),
        sa.Column("tls_versions", sa.JSON(), nullable=True),
        sa.Column("alpn_protocols", sa.JSON(), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("admin_state_up", sa.Boolean(), nullable=False),
        sa.Column("provisioning_status", sa.String(length=16), nullable=False),
        sa.Column("operating_status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["load_balancer_id"],
            ["load_balancer.id"],
            name=op.f("fk_pool_load_balancer_id_load_balancer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pool")),
    )
    with op.batch_alter_table("pool", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pool_load_balancer_id"), ["load_balancer_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_pool_project_id"), ["project_id"], unique=False)

    op.create_table(
        "listener",
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("load_balancer_id", sa.String(length=36), nullable=False),
        sa.Column("protocol", sa.String(length=16), nullable=False),
        sa.Column("protocol_port", sa.Integer(), nullable=False),
        sa.Column("connection_limit", sa.Integer(), nullable=False),
        sa.Column("default_pool_id", sa.String(length=36), nullable=True),
        sa.Column("insert_headers", sa.JSON(), nullable=False),
        sa.Column("timeout_client_data", sa.Integer(), nullable=True),
        sa.Column("timeout_member_connect", sa.Integer(), nullable=True),
        sa.Column("timeout_member_data", sa.Integer(), nullable=True),
        sa.Column("timeout_tcp_inspect", sa.Integer(), nullable=True),
        sa.Column("default_tls_container_ref", sa.String(length=255), nullable=True),
        sa.Column("sni_container_refs", sa.JSON(), nullable=False),
        sa.Column("client_authentication", sa.String(length=10), nullable=False),
        sa.Column("client_ca_tls_container_ref", sa.String(length=255), nullable=True),
        sa.Column("client_crl_container_ref", sa.String(length=255), nullable=True),
        sa.Column("allowed_cidrs", sa.JSON(), nullable=False),
        sa.Column("tls_ciphers", sa.String(length=2048), nullable=True),
        sa.Column("tls_versions", sa.JSON(), nullable=True),
        sa.Column("alpn_protocols", sa.JSON(), nullable=True),
        sa.Column("hsts_max_age", sa.Integer(), nullable=True),
        sa.Column("hsts_include_subdomains", sa.Boolean(), nullable=False),
        sa.Column("hsts_preload", sa.Boolean(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("admin_state_up", sa.Boolean(), nullable=False),
        sa.Column("provisioning_status", sa.String(length=16), nullable=False),
        sa.Column("operating_status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["default_pool_id"],
            ["pool.id"],
            name=op.f("fk_listener_default_pool_id_pool"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["load_balancer_id"],
            ["load_balancer.id"],
            name=op.f("fk_listener_load_balancer_id_load_balancer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listener")),
    )
    with op.batch_alter_table("listener", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_listener_load_balancer_id"), ["load_balancer_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_listener_project_id"), ["project_id"], unique=False)

    op.create_table(
        "health_monitor",
        sa.Column("pool_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("delay", sa.Integer(), nullable=False),
        sa.Column("timeout", sa.Integer(), nullable=False),
        sa.Column("max_retries", sa.Integer(), nullable=False),
        sa.Column("max_retries_down", sa.Integer(), nullable=False),
        sa.Column("http_method", sa.String(length=16), nullable=True),
        sa.Column("url_path", sa.String(length=2048), nullable=True),
        sa.Column("expected_codes", sa.String(length=64), nullable=True),
        sa.Column("http_version", sa.Float(), nullable=True),
        sa.Column("domain_name", sa.String(length=255), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("admin_state_up", sa.Boolean(), nullable=False),
        sa.Column("provisioning_status", sa.String(length=16), nullable=False),
        sa.Column("operating_status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["pool_id"],
            ["pool.id"],
            name=op.f("fk_health_monitor_pool_id_pool"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_health_monitor")),
        sa.UniqueConstraint("pool_id", name=op.f("uq_health_monitor_pool_id")),
    )
    with op.batch_alter_table("health_monitor", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_health_monitor_project_id"), ["project_id"], unique=False
        )

    op.create_table(
        "l7policy",
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("listener_id", sa.String(length=36), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("redirect_pool_id", sa.String(length=36), nullable=True),
        sa.Column("redirect_url", sa.String(length=255), nullable=True),
        sa.Column("redirect_prefix", sa.String(length=255), nullable=True),
        sa.Column("redirect_http_code", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("admin_state_up", sa.Boolean(), nullable=False),
        sa.Column("provisioning_status", sa.String(length=16), nullable=False),
        sa.Column("operating_status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["listener_id"],
            ["listener.id"],
            name=op.f("fk_l7policy_listener_id_listener"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["redirect_pool_id"],
            ["pool.id"],
            name=op.f("fk_l7policy_redirect_pool_id_pool"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_l7policy")),
    )
    with op.batch_alter_table("l7policy", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_l7policy_listener_id"), ["listener_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_l7policy_project_id"), ["project_id"], unique=False)

    op.create_table(
        "listener_statistics",
        sa.Column("listener_id", sa.String(length=36), nullable=False),
        sa.Column("amphora_id", sa.String(length=36), nullable=False),
        sa.Column("bytes_in", sa.BigInteger(), nullable=False),
        sa.Column("bytes_out", sa.BigInteger(), nullable=False),
        sa.Column("active_connections", sa.Integer(), nullable=False),
        sa.Column("total_connections", sa.BigInteger(), nullable=False),
        sa.Column("request_errors", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["listener_id"],
            ["listener.id"],
            name=op.f("fk_listener_statistics_listener_id_listener"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("listener_id", "amphora_id", name=op.f("pk_listener_statistics")),
    )
    op.create_table(
        "member",
        sa.Column("pool_id", sa.String(length=36), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("protocol_port", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("backup", sa.Boolean(), nullable=False),
        sa.Column("subnet_id", sa.String(length=36), nullable=True),
        sa.Column("monitor_address", sa.String(length=64), nullable=True),
        sa.Column("monitor_port", sa.Integer(), nullable=True),
        sa.Column("vnic_type", sa.String(length=16), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("admin_state_up", sa.Boolean(), nullable=False),
        sa.Column("provisioning_status", sa.String(length=16), nullable=False),
        sa.Column("operating_status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["pool_id"], ["pool.id"], name=op.f("fk_member_pool_id_pool"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member")),
        sa.UniqueConstraint(
            "pool_id",
            "address",
            "protocol_port",
            name=op.f("uq_member_pool_id_address_protocol_port"),
        ),
    )
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_member_pool_id"), ["pool_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_member_project_id"), ["project_id"], unique=False)

    op.create_table(
        "l7rule",
        sa.Column("l7policy_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("compare_type", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=True),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("invert", sa.Boolean(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("admin_state_up", sa.Boolean(), nullable=False),
        sa.Column("provisioning_status", sa.String(length=16), nullable=False),
        sa.Column("operating_status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["l7policy_id"],
            ["l7policy.id"],
            name=op.f("fk_l7rule_l7policy_id_l7policy"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_l7rule")),
    )
    with op.batch_alter_table("l7rule", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_l7rule_l7policy_id"), ["l7policy_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_l7rule_project_id"), ["project_id"], unique=False)


def downgrade() -> None:
    op.drop_table("l7rule")
    op.drop_table("member")
    op.drop_table("listener_statistics")
    op.drop_table("l7policy")
    op.drop_table("health_monitor")
    op.drop_table("listener")
    op.drop_table("pool")
    op.drop_table("amphora")
    op.drop_table("load_balancer")
    op.drop_table("flavor")
    op.drop_table("availability_zone")
    op.drop_table("tag")
    op.drop_table("quota")
    op.drop_table("operation")
    op.drop_table("flavor_profile")
    op.drop_table("availability_zone_profile")
