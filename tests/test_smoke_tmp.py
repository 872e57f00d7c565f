def test_dashboard(world_a, client_for):
    c = client_for(world_a.user("igo_admin"))
    r = c.get(f"/t/{world_a.tenant.slug}/")
    assert r.status_code == 200, r.content[:500]
    r = c.get(f"/t/{world_a.tenant.slug}/users/")
    assert r.status_code == 200
