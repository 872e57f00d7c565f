"""Finance screens, included under `/t/<tenant_slug>/` (igo.urls.tenant_patterns)."""

from django.urls import URLPattern, path

from billing import views

urlpatterns: list[URLPattern] = [
    path("contracts/", views.contract_list, name="contract_list"),
    path("contracts/new/", views.contract_create, name="contract_create"),
    path("contracts/<int:pk>/", views.contract_detail, name="contract_detail"),
    path("contracts/<int:pk>/new-version/", views.contract_new_version, name="contract_new_version"),
    path("contracts/<int:pk>/reprice/", views.contract_reprice, name="contract_reprice"),
    path(
        "contracts/<int:pk>/reprice/<uuid:job>/",
        views.contract_reprice_progress,
        name="contract_reprice_progress",
    ),
    path(
        "contracts/<int:pk>/quality-agreements/new/",
        views.quality_agreement_create,
        name="quality_agreement_create",
    ),
    path("quality-agreements/", views.quality_agreements, name="quality_agreements"),
    path("quality-agreements/settle/", views.quality_settle, name="quality_settle"),
    path("split-rules/", views.split_rule_list, name="split_rule_list"),
    path("split-rules/new/", views.split_rule_create, name="split_rule_create"),
    path("work-queue/", views.work_queue, name="work_queue"),
    path("work-queue/<int:pk>/resolve/", views.work_item_resolve, name="work_item_resolve"),
    path("claims/", views.claim_list, name="claim_list"),
    path("claims/export/", views.claim_list_export, name="claim_list_export"),
    path("finance/", views.finance_home, name="finance_home"),
    path("claims/episodes/<int:pk>/", views.episode_claims, name="episode_claims"),
    path("claims/lines/<int:pk>/", views.claim_line_explain, name="claim_line_explain"),
    path(
        "claims/episodes/<int:pk>/partial/<str:phase>/", views.partial_decision, name="partial_decision"
    ),  # issue 14
    path("revenue/", views.revenue, name="revenue"),
    path("billing/run/", views.billing_run_start, name="billing_run_start"),
    path("billing/progress/", views.billing_run_progress, name="billing_run_progress"),
    path("claims/lines/<int:pk>/rebill/", views.claim_line_rebill, name="claim_line_rebill"),
    path(
        "claims/lines/<int:pk>/resend-credit/",
        views.claim_line_credit_resend,
        name="claim_line_credit_resend",
    ),
    path("batches/", views.batch_list, name="batch_list"),
    path("batches/make/", views.batch_create, name="batch_create"),
    path("batches/<int:pk>/", views.batch_detail, name="batch_detail"),
    path("batches/<int:pk>/release/", views.batch_release, name="batch_release"),
    path("batches/<int:pk>/rebuild/", views.batch_rebuild, name="batch_rebuild"),
    path("batches/<int:pk>/discard/", views.batch_discard, name="batch_discard"),
    path("batches/<int:pk>/files/<str:kind>/", views.batch_file, name="batch_file"),
    path("batches/<int:pk>/payments/", views.batch_payment_record, name="batch_payment_record"),
    path("statements/", views.statement_list, name="statement_list"),
    path(
        "statements/<int:org_pk>/<int:year>/<int:month>/<str:fmt>/",
        views.statement_download,
        name="statement_download",
    ),
    # payouts to members (issue 14: payouts)
    path("payouts/", views.payout_list, name="payout_list"),
    path(
        "payouts/former-members/<int:org_pk>/repayment/",
        views.member_repayment,
        name="member_repayment",
    ),
    path("payouts/prepare/", views.payout_prepare, name="payout_prepare"),
    path("payouts/bank-account/", views.payout_bank_account, name="payout_bank_account"),
    path("payouts/<int:pk>/", views.payout_detail, name="payout_detail"),
    path("payouts/<int:pk>/release/", views.payout_release, name="payout_release"),
    path("payouts/<int:pk>/discard/", views.payout_discard, name="payout_discard"),
    path("payouts/<int:pk>/sepa/", views.payout_sepa, name="payout_sepa"),
    path(
        "payouts/<int:pk>/statements/<int:payout_pk>/<str:fmt>/",
        views.payout_statement_download,
        name="payout_statement_download",
    ),
]
